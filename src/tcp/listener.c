typedef int placeholder_listener;
