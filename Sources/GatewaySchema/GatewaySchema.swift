// GatewaySchema: see docs/DESIGN.md
