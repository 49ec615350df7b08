typedef int placeholder_sock_addr;
