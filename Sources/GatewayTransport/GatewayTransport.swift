// GatewayTransport: see docs/DESIGN.md
