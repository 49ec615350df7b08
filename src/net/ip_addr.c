typedef int placeholder_ip_addr;
