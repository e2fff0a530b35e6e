//! ConductorOne's service-mode protocol, as a library: the generated `BatonService` gRPC
//! client and server ([`pb`]). The host's service mode uses the client; the tests' fake C1
//! uses the server, so both sides speak the same generated messages. The protocol is
//! described in docs/c1z-and-c1.md §4–§5.

/// Generated code, nested by protobuf package so that its relative paths resolve.
#[allow(clippy::all, missing_docs)]
mod generated {
    pub mod c1 {
        pub mod connectorapi {
            pub mod baton {
                pub mod v1 {
                    include!(concat!(env!("OUT_DIR"), "/c1.connectorapi.baton.v1.rs"));
                }
            }
        }
    }
    pub mod google {
        pub mod rpc {
            include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
        }
    }
}

/// `c1.connectorapi.baton.v1`: the messages, `baton_service_client` and `baton_service_server`.
pub use generated::c1::connectorapi::baton::v1 as pb;
/// `google.rpc.Status`.
pub use generated::google::rpc;
