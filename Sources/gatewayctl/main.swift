import GatewayConsole
import GatewayCrypto

// An operator's tool, often run through sudo: root may read the gateway user's keys to
// check them (`config check`, `certs`). The daemon keeps its strict owner check.
PrivateKey.allowRootToReadKeysOfOtherUsers()
GatewayCtl.main(GatewayCtl.normalize(Array(CommandLine.arguments.dropFirst())))
