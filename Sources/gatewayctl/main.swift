import GatewayConsole

GatewayCtl.main(GatewayCtl.normalize(Array(CommandLine.arguments.dropFirst())))
