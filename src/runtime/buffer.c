typedef int placeholder_buffer;
