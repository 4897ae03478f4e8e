// GatewayConsole: see docs/DESIGN.md
