typedef int placeholder_hostname;
