//! The IP layer: end hosts with UDP/TCP sockets and applications, routers, and
//! longest-prefix-match routing tables.

pub mod host;
pub mod prefix;
pub mod route;
pub mod router;

pub use host::{App, AppId, AppTimer, ConnId, Host, HostConfig, HostCtx, SocketError};
pub use prefix::{Prefix, PrefixError};
pub use route::{PrefixTable, Route, RoutingTable};
pub use router::Router;
