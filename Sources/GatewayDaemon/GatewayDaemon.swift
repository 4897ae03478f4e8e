// GatewayDaemon: see docs/DESIGN.md
