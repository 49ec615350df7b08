typedef int placeholder_stream;
