typedef int placeholder_clock;
