rdtsc: steered value [0-9]+
