typedef int placeholder_timer_wheel;
