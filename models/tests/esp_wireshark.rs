//! The Wireshark key export, checked with the real thing: tshark 4.0 reads a pcap of ESP in
//! IPv4 (protocol 50), ESP in UDP 4500 (RFC 3948) and an AES-GCM-protected IKEv2 message
//! (RFC 5282) with the files [`KeyLog`] writes, and must verify every ICV and show the
//! decrypted inner packets.
//!
//! Skipped when `tshark` is not installed, unless `IKESIM_REQUIRE_TSHARK` is set (then a
//! missing tshark fails the test).

#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use models::CryptoMode;
use models::esp::{EspSaKeys, GcmKey, IkeSaKeys, KeyLog, OutboundSa, SaParams, UdpEncapPayload};
use models::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr};
use sim::SimTime;
use sim::pcap::{write_header, write_record};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const NATTED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const INNER_SRC: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const INNER_DST: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
const SPI_OUT: u32 = 0x1111_1111;
const SPI_IN: u32 = 0x2222_2222;
const SPI_NATT: u32 = 0x3333_3333;
const IKE_SPI_I: u64 = 0x0102_0304_0506_0708;
const IKE_SPI_R: u64 = 0x1112_1314_1516_1718;
/// INITIAL_CONTACT (RFC 7296 §3.10.1), the Notify inside the protected IKE message.
const INITIAL_CONTACT: u16 = 16384;

fn key(fill: u8) -> GcmKey {
    let mut keymat = [fill; GcmKey::KEYMAT_LEN];
    keymat[32..].copy_from_slice(&[fill ^ 0xff; 4]);
    GcmKey::from_keymat(&keymat).unwrap()
}

/// An IPv4 packet around `payload`, with a UDP header if `ports` is given.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, ports: Option<(u16, u16)>, payload: &[u8]) -> Vec<u8> {
    let udp = ports.map(|(src_port, dst_port)| UdpRepr { src_port, dst_port });
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: if udp.is_some() {
            IpProtocol::UDP
        } else {
            IpProtocol::ESP
        },
        payload_len: udp.map_or(payload.len(), |u| u.buffer_len(payload.len())),
        hop_limit: 64,
        ident: 0,
        dont_frag: true,
    };
    let mut buf = vec![0xa5; ip.buffer_len()];
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut packet);
    match udp {
        Some(udp) => udp.emit(
            &mut UdpPacket::new_unchecked(packet.payload_mut()),
            src,
            dst,
            payload.len(),
            |b| b.copy_from_slice(payload),
        ),
        None => packet.payload_mut().copy_from_slice(payload),
    }
    buf
}

/// An inner IPv4/UDP packet whose payload names it.
fn inner(tag: &str) -> Vec<u8> {
    ipv4(INNER_SRC, INNER_DST, Some((5000, 6000)), tag.as_bytes())
}

fn esp_sa(spi: u32, k: &GcmKey) -> OutboundSa {
    OutboundSa::new(SaParams {
        spi,
        key: k.clone(),
        esn: false,
        crypto: CryptoMode::Real,
    })
}

/// An IKEv2 INFORMATIONAL request from the initiator carrying one Notify in an SK payload
/// protected with AES-GCM-16 (RFC 7296 §3.1, §3.10, §3.14; RFC 5282 §3, §5).
fn ike_informational(sk_ei: &GcmKey) -> Vec<u8> {
    let iv = [0, 0, 0, 0, 0, 0, 0, 1];
    // Notify: last payload, length 8, protocol 0, SPI size 0, type; then Pad Length 0.
    let mut plaintext = vec![0, 0, 0, 8, 0, 0];
    plaintext.extend_from_slice(&INITIAL_CONTACT.to_be_bytes());
    plaintext.push(0);
    let sk_len = 4 + iv.len() + plaintext.len() + 16;
    let total = 28 + sk_len;
    let mut msg = Vec::new();
    msg.extend_from_slice(&IKE_SPI_I.to_be_bytes());
    msg.extend_from_slice(&IKE_SPI_R.to_be_bytes());
    msg.extend_from_slice(&[46, 0x20, 37, 0x08]); // next SK, v2.0, INFORMATIONAL, I
    msg.extend_from_slice(&1u32.to_be_bytes()); // Message ID
    msg.extend_from_slice(&u32::try_from(total).unwrap().to_be_bytes());
    msg.extend_from_slice(&[41, 0]); // SK: next payload N
    msg.extend_from_slice(&u16::try_from(sk_len).unwrap().to_be_bytes());
    let aad = msg.clone();
    let mut nonce = [0; 12];
    nonce[..4].copy_from_slice(&sk_ei.salt());
    nonce[4..].copy_from_slice(&iv);
    let tag = Aes256Gcm::new(sk_ei.key().into())
        .encrypt_inout_detached(&Nonce::from(nonce), &aad, (&mut plaintext[..]).into())
        .unwrap();
    msg.extend_from_slice(&iv);
    msg.extend_from_slice(&plaintext);
    msg.extend_from_slice(&tag);
    assert_eq!(msg.len(), total);
    msg
}

/// A fresh directory under the system temp dir, named after this test and process,
/// removed with its contents when dropped: after a pass, a failure or a skip alike.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("ikesim-esp-wireshark-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs tshark on `pcap` with `config` and the given field columns; `None` if tshark is
/// not installed and not required.
fn tshark(config: &Path, pcap: &Path, fields: &[&str]) -> Option<Vec<Vec<String>>> {
    let mut cmd = Command::new("tshark");
    cmd.env("WIRESHARK_CONFIG_DIR", config)
        .arg("-n")
        .arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) if std::env::var_os("IKESIM_REQUIRE_TSHARK").is_none() => {
            eprintln!("skipping: tshark not runnable ({e}); set IKESIM_REQUIRE_TSHARK to fail");
            return None;
        }
        Err(e) => panic!("IKESIM_REQUIRE_TSHARK is set but tshark cannot run: {e}"),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tshark failed: {stderr}");
    let bad_stderr = stderr
        .lines()
        .filter(|l| !l.contains("Running as user \"root\""))
        .collect::<Vec<_>>();
    assert!(bad_stderr.is_empty(), "tshark complained: {bad_stderr:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    Some(
        stdout
            .lines()
            .map(|l| l.split('|').map(str::to_owned).collect())
            .collect(),
    )
}

#[test]
fn tshark_decrypts_esp_and_ike_with_the_key_log() {
    let (k_out, k_in, k_natt) = (key(0x11), key(0x22), key(0x33));
    let (sk_ei, sk_er) = (key(0x44), key(0x55));
    let mut log = KeyLog::new();
    for (src, dst, spi, k) in [
        (Some(CLIENT), Some(GATEWAY), SPI_OUT, &k_out),
        (Some(GATEWAY), Some(CLIENT), SPI_IN, &k_in),
        (None, Some(GATEWAY), SPI_NATT, &k_natt),
    ] {
        log.log_esp_sa(EspSaKeys {
            src,
            dst,
            spi,
            key: k.clone(),
        });
    }
    log.log_ike_sa(IkeSaKeys {
        spi_i: IKE_SPI_I,
        spi_r: IKE_SPI_R,
        sk_ei: sk_ei.clone(),
        sk_er,
    });

    let (mut out, mut back, mut natt) = (
        esp_sa(SPI_OUT, &k_out),
        esp_sa(SPI_IN, &k_in),
        esp_sa(SPI_NATT, &k_natt),
    );
    let udp_4500 = |payload: UdpEncapPayload<'_>| {
        let mut buf = vec![0; payload.buffer_len()];
        payload.emit(&mut buf);
        ipv4(NATTED, GATEWAY, Some((4500, 4500)), &buf)
    };
    let packets = [
        ipv4(
            CLIENT,
            GATEWAY,
            None,
            &out.encapsulate(&inner("esp-1")).unwrap(),
        ),
        ipv4(
            GATEWAY,
            CLIENT,
            None,
            &back.encapsulate(&inner("esp-2")).unwrap(),
        ),
        ipv4(
            CLIENT,
            GATEWAY,
            None,
            &out.encapsulate(&inner("esp-3-x")).unwrap(),
        ),
        udp_4500(UdpEncapPayload::Esp(
            &natt.encapsulate(&inner("natt-4")).unwrap(),
        )),
        udp_4500(UdpEncapPayload::NatKeepalive),
        udp_4500(UdpEncapPayload::Ike(&ike_informational(&sk_ei))),
    ];

    let dir = ScratchDir::new();
    let config = dir.0.join("wireshark");
    log.write_wireshark_config(&config).unwrap();
    let pcap = dir.0.join("esp.pcap");
    let mut file = Vec::new();
    write_header(&mut file).unwrap();
    for (i, p) in packets.iter().enumerate() {
        write_record(&mut file, SimTime::from_nanos(i as u64 * 1_000_000), p).unwrap();
    }
    std::fs::write(&pcap, file).unwrap();

    let fields = [
        "esp.spi",
        "esp.icv_good",
        "ip.src",
        "udp.dstport",
        "data.data",
        "isakmp.notify.msgtype",
    ];
    let Some(rows) = tshark(&config, &pcap, &fields) else {
        return;
    };
    assert_eq!(rows.len(), packets.len(), "{rows:?}");
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let esp_rows = [
        (SPI_OUT, CLIENT, "esp-1"),
        (SPI_IN, GATEWAY, "esp-2"),
        (SPI_OUT, CLIENT, "esp-3-x"),
        (SPI_NATT, NATTED, "natt-4"),
    ];
    for (row, (spi, outer_src, payload)) in rows.iter().zip(esp_rows) {
        assert_eq!(row[0], format!("{spi:#010x}"), "{row:?}");
        assert_eq!(row[1], "1", "ICV verified: {row:?}");
        assert_eq!(
            row[2],
            format!("{outer_src},{INNER_SRC}"),
            "inner IPv4 decoded: {row:?}"
        );
        assert!(row[3].ends_with("6000"), "inner UDP decoded: {row:?}");
        assert_eq!(row[4], hex(payload), "inner payload decrypted: {row:?}");
    }
    assert_eq!(
        rows[4][..3],
        ["", "", &NATTED.to_string()],
        "keepalive: no ESP"
    );
    assert_eq!(
        rows[5][5],
        INITIAL_CONTACT.to_string(),
        "IKE SK payload decrypted with ikev2_decryption_table: {:?}",
        rows[5]
    );
}
