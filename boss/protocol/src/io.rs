//! Reading and writing frames over any async byte stream (a TLS stream in practice).
//! A thin shell around [`crate::codec`].

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::codec::{self, DecodeError, EncodeError, Envelope, HEADER_LEN, MAX_FRAME_LEN};

/// Why reading a frame failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The stream failed.
    #[error("read failed")]
    Io(#[from] std::io::Error),
    /// The stream ended inside a frame.
    #[error("connection closed inside a frame")]
    TruncatedFrame,
    /// A whole frame arrived but did not decode. If
    /// [`DecodeError::is_recoverable`] the stream is still in sync.
    #[error("bad frame")]
    Decode(#[from] DecodeError),
}

/// Why writing a frame failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The stream failed.
    #[error("write failed")]
    Io(#[from] std::io::Error),
    /// The message could not be encoded.
    #[error("cannot encode")]
    Encode(#[from] EncodeError),
}

/// Reads one frame. `Ok(None)` when the peer closed the stream cleanly between frames.
/// Cancel-safe only between frames: don't drop the future midway if the stream is reused.
pub async fn read_envelope<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Envelope>, ReadError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let slot = header.get_mut(got..).unwrap_or_default();
        let n = r.read(slot).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(ReadError::TruncatedFrame)
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(header);
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len == 0 || len_usize > MAX_FRAME_LEN {
        return Err(DecodeError::BadLength(u64::from(len)).into());
    }
    let mut payload = vec![0u8; len_usize];
    r.read_exact(&mut payload).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ReadError::TruncatedFrame
        } else {
            ReadError::Io(e)
        }
    })?;
    Ok(Some(codec::from_json(&payload)?))
}

/// Writes one frame and flushes it.
pub async fn write_envelope<W: AsyncWrite + Unpin>(
    w: &mut W,
    env: &Envelope,
) -> Result<(), WriteError> {
    let frame = codec::encode(env)?;
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}
