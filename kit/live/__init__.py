"""Live things in the kernel: taps (background consumers) and the widgets fed by them."""
