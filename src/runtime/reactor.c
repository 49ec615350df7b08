typedef int placeholder_reactor;
