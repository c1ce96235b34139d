//! Asking the mail plane's port 25 whether it takes mail for an address, without sending any:
//! EHLO, `MAIL FROM:<>`, `RCPT TO:<address>`, QUIT. The offboarding scan uses it to prove on
//! the live server that an offboarded address is refused.
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(15);

/// One SMTP reply: its code and its text (continuation lines joined).
async fn reply<R: AsyncBufReadExt + Unpin>(r: &mut R) -> Result<(u16, String), String> {
    let mut text = Vec::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, r.read_line(&mut line))
            .await
            .map_err(|_| "no answer in 15 s".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 || line.len() < 4 || line.len() > 2048 {
            return Err(
                "the server closed the connection or answered something else than SMTP".into(),
            );
        }
        let code: u16 = line[..3]
            .parse()
            .map_err(|_| format!("not an SMTP reply: {:?}", line.trim_end()))?;
        text.push(line[4..].trim_end().to_string());
        if line.as_bytes()[3] != b'-' {
            return Ok((code, text.join(" ")));
        }
        if text.len() > 100 {
            return Err("an endless SMTP reply".into());
        }
    }
}

/// The answer of the server at `server` (`IP:PORT`) to `RCPT TO:<address>` (after `MAIL
/// FROM:<>`), or why there was none.
pub async fn rcpt(server: &str, helo: &str, address: &str) -> Result<(u16, String), String> {
    if address.contains(['\r', '\n', '<', '>']) || helo.contains(['\r', '\n']) {
        return Err("not an address".into());
    }
    let sock = tokio::time::timeout(WAIT, TcpStream::connect(server))
        .await
        .map_err(|_| format!("{server} did not answer in 15 s"))?
        .map_err(|e| format!("{server}: {e}"))?;
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let expect = |step: &str, (code, text): (u16, String), ok: u16| {
        if code == ok {
            Ok(())
        } else {
            Err(format!("{step}: {code} {text}"))
        }
    };
    expect("greeting", reply(&mut r).await?, 220)?;
    let say = |line: String| line.into_bytes();
    w.write_all(&say(format!("EHLO {helo}\r\n")))
        .await
        .map_err(|e| e.to_string())?;
    expect("EHLO", reply(&mut r).await?, 250)?;
    w.write_all(b"MAIL FROM:<>\r\n")
        .await
        .map_err(|e| e.to_string())?;
    expect("MAIL FROM", reply(&mut r).await?, 250)?;
    w.write_all(&say(format!("RCPT TO:<{address}>\r\n")))
        .await
        .map_err(|e| e.to_string())?;
    let answer = reply(&mut r).await?;
    let _ = w.write_all(b"QUIT\r\n").await;
    Ok(answer)
}
