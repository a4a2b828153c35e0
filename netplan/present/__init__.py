"""What people see: the terminal, the map and the report. Reads a Plan, recomputes nothing."""
