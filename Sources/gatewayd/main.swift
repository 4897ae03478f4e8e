print("gatewayd: not yet")
