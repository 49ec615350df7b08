typedef int placeholder_raw_socket;
