// GatewayStore: see docs/DESIGN.md
