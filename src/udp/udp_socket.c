typedef int placeholder_udp_socket;
