//! A DNS server on loopback answering over UDP and TCP: the region's names from its table, the
//! rest forwarded to an upstream (a second server, with a table of its own).

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use flotilla_api::dns::{DnsTable, RecordData, RecordSet, Routing, SrvRecord};
use flotilla_dns::DnsServer;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn a(name: &str, addresses: &[[u8; 4]]) -> RecordSet {
    RecordSet {
        name: name.into(),
        ttl: 10,
        routing: Routing::Multivalue,
        data: RecordData::A(addresses.iter().map(|a| Ipv4Addr::from(*a)).collect()),
    }
}

fn query(name: &str, kind: RecordType) -> Message {
    let mut message = Message::new(fastrand::u16(..), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_str(name).expect("name"), kind));
    message
}

async fn ask_udp(server: SocketAddr, message: &Message) -> Message {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.send_to(&message.to_vec().expect("encode"), server).await.expect("send");
    let mut buffer = vec![0; 4096];
    let (read, _) =
        tokio::time::timeout(std::time::Duration::from_secs(5), socket.recv_from(&mut buffer))
            .await
            .expect("an answer in time")
            .expect("recv");
    let answer = Message::from_vec(&buffer[..read]).expect("decode");
    assert_eq!(answer.metadata.id, message.metadata.id);
    answer
}

async fn ask_tcp(server: SocketAddr, message: &Message) -> Message {
    let mut stream = tokio::net::TcpStream::connect(server).await.expect("connect");
    let bytes = message.to_vec().expect("encode");
    stream.write_u16(bytes.len() as u16).await.expect("write");
    stream.write_all(&bytes).await.expect("write");
    let length = stream.read_u16().await.expect("length");
    let mut reply = vec![0; usize::from(length)];
    stream.read_exact(&mut reply).await.expect("read");
    Message::from_vec(&reply).expect("decode")
}

fn texts(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    let mut texts: Vec<String> = records.iter().map(|r| r.data.to_string()).collect();
    texts.sort();
    texts
}

#[tokio::test]
async fn answers_its_table_and_forwards_the_rest() {
    let upstream =
        DnsServer::bind("127.0.0.1:0".parse().expect("addr"), Vec::new()).await.expect("upstream");
    upstream.set_table(&DnsTable {
        zones: vec!["outside.test".into()],
        record_sets: vec![a("www.outside.test", &[[192, 0, 2, 7]])],
    });
    let server = DnsServer::bind("127.0.0.1:0".parse().expect("addr"), vec![upstream.address()])
        .await
        .expect("server");
    let at = server.address();

    // Before the first table: nothing is ours, everything is forwarded.
    let early = ask_udp(at, &query("www.outside.test.", RecordType::A)).await;
    assert_eq!(texts(&early.answers), ["192.0.2.7"]);

    server.set_table(&DnsTable {
        zones: vec!["prod.local".into()],
        record_sets: vec![
            a("web.prod.local", &[[10, 0, 0, 1], [10, 0, 0, 2]]),
            a("t1.api.prod.local", &[[10, 0, 1, 1]]),
            RecordSet {
                name: "api.prod.local".into(),
                ttl: 60,
                routing: Routing::Multivalue,
                data: RecordData::Srv(vec![SrvRecord {
                    priority: 1,
                    weight: 1,
                    port: 32768,
                    target: "t1.api.prod.local".into(),
                }]),
            },
        ],
    });

    let web = ask_udp(at, &query("web.prod.local.", RecordType::A)).await;
    assert_eq!(web.metadata.response_code, ResponseCode::NoError);
    assert!(web.metadata.authoritative);
    assert_eq!(texts(&web.answers), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(web.answers[0].ttl, 10);

    let srv = ask_tcp(at, &query("api.prod.local.", RecordType::SRV)).await;
    assert_eq!(texts(&srv.answers), ["1 1 32768 t1.api.prod.local."]);
    assert_eq!(texts(&srv.additionals), ["10.0.1.1"]);

    let missing = ask_udp(at, &query("gone.prod.local.", RecordType::A)).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert!(missing.answers.is_empty());

    // Forwarded over UDP and over TCP, the upstream's answer and its code come back.
    for answer in [
        ask_udp(at, &query("www.outside.test.", RecordType::A)).await,
        ask_tcp(at, &query("www.outside.test.", RecordType::A)).await,
    ] {
        assert_eq!(texts(&answer.answers), ["192.0.2.7"]);
        assert!(answer.metadata.authoritative, "the upstream's flags pass through");
    }
    let nowhere = ask_udp(at, &query("nowhere.outside.test.", RecordType::A)).await;
    assert_eq!(nowhere.metadata.response_code, ResponseCode::NXDomain);

    // An upstream that is gone: SERVFAIL, and the table still answers.
    drop(upstream);
    let failed = ask_udp(at, &query("www.outside.test.", RecordType::A)).await;
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
    let web = ask_udp(at, &query("WEB.Prod.Local.", RecordType::A)).await;
    assert_eq!(texts(&web.answers), ["10.0.0.1", "10.0.0.2"]);
}
