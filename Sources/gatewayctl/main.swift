print("gatewayctl: not yet")
