"""What customers do and what outlets can serve: scenario, demand, queues, service, KPIs, cost."""
