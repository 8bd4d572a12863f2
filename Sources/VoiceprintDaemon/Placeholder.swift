import NIOCore
import NIOPosix
import NIOExtras
import ServiceLifecycle
import Logging
