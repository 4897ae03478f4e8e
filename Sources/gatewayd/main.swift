// gatewayd: the daemon. Parses its options, loads the configuration, and hands over to
// GatewayDaemon. Runs in the foreground; SIGTERM/SIGINT stop it cleanly, SIGHUP reloads.
import Foundation
import GatewayDaemon

exit(GatewayMain.run(arguments: Array(CommandLine.arguments.dropFirst())))
