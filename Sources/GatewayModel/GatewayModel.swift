// GatewayModel: see docs/DESIGN.md
