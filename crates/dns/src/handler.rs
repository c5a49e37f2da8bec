//! hickory's request handler: the region's names from the table, everything else forwarded.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use hickory_proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_proto::rr::Record;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::forward::forward;
use crate::table::{random_order, Lookup, Table};

/// The largest answer over UDP this server offers to a client that speaks EDNS.
const EDNS_PAYLOAD: u16 = 1232;

pub struct Handler {
    pub table: Arc<RwLock<Arc<Table>>>,
    pub upstreams: Arc<Vec<SocketAddr>>,
}

impl Handler {
    fn table(&self) -> Arc<Table> {
        Arc::clone(&self.table.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What the handler answers: its records, or the upstream's message.
enum Reply {
    Code(ResponseCode),
    Records { code: ResponseCode, answers: Vec<Record>, additionals: Vec<Record> },
    Forwarded(Message),
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let reply = self.reply(request).await;
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        let edns = request.edns.as_ref().map(|_| {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let sent = match &reply {
            Reply::Code(code) => {
                metadata.authoritative =
                    *code == ResponseCode::NXDomain || *code == ResponseCode::NoError;
                metadata.response_code = *code;
                response.send_response(builder.build_no_records(metadata)).await
            }
            Reply::Records { code, answers, additionals } => {
                metadata.authoritative = true;
                metadata.response_code = *code;
                let none: [&Record; 0] = [];
                response
                    .send_response(builder.build(metadata, answers, none, none, additionals))
                    .await
            }
            Reply::Forwarded(upstream) => {
                metadata.response_code = upstream.metadata.response_code;
                metadata.authoritative = upstream.metadata.authoritative;
                metadata.truncation = upstream.metadata.truncation;
                metadata.recursion_available = upstream.metadata.recursion_available;
                metadata.authentic_data = upstream.metadata.authentic_data;
                let none: [&Record; 0] = [];
                response
                    .send_response(builder.build(
                        metadata,
                        &upstream.answers,
                        &upstream.authorities,
                        none,
                        &upstream.additionals,
                    ))
                    .await
            }
        };
        sent.unwrap_or_else(|error| {
            tracing::debug!(%error, "cannot send a DNS answer");
            let mut failed = Metadata::response_from_request(&request.metadata);
            failed.response_code = ResponseCode::ServFail;
            Header { metadata: failed, counts: HeaderCounts::default() }.into()
        })
    }
}

impl Handler {
    async fn reply(&self, request: &Request) -> Reply {
        if request.metadata.message_type != MessageType::Query
            || request.metadata.op_code != OpCode::Query
        {
            return Reply::Code(ResponseCode::NotImp);
        }
        let Ok(info) = request.request_info() else {
            return Reply::Code(ResponseCode::FormErr);
        };
        let name = info.query.name().to_string();
        let kind = info.query.query_type();
        match self.table().lookup(&name, kind, &mut random_order) {
            Lookup::Answer { answers, additionals } => {
                Reply::Records { code: ResponseCode::NoError, answers, additionals }
            }
            Lookup::NoData => Reply::Code(ResponseCode::NoError),
            Lookup::NxDomain => Reply::Code(ResponseCode::NXDomain),
            Lookup::Elsewhere => {
                let mut query =
                    Message::new(request.metadata.id, MessageType::Query, OpCode::Query);
                query.metadata.recursion_desired = request.metadata.recursion_desired;
                query.metadata.checking_disabled = request.metadata.checking_disabled;
                query.add_query(info.query.original().clone());
                if let Some(client) = &request.edns {
                    let mut edns = Edns::new();
                    edns.set_max_payload(client.max_payload().clamp(512, EDNS_PAYLOAD));
                    query.set_edns(edns);
                }
                let over_tcp = request.protocol() == Protocol::Tcp;
                match forward(&query, &self.upstreams, over_tcp).await {
                    Ok(answer) => Reply::Forwarded(answer),
                    Err(error) => {
                        tracing::debug!(%error, %name, "forwarding failed");
                        Reply::Code(ResponseCode::ServFail)
                    }
                }
            }
        }
    }
}
