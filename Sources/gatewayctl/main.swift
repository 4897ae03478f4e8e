import GatewayConsole

GatewayCtl.main()
