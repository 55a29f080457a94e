//! Device I/O shared by every driver crate: serial line settings, opening a serial port
//! as an async byte stream, and pseudo-terminal pairs for simulators and tests.
//!
//! Drivers are generic over [`Transport`] (any `AsyncRead + AsyncWrite`), so the same
//! protocol code runs over a serial port, a USB bulk pipe, an in-memory duplex or a
//! pseudo-terminal.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_serial::SerialPortBuilderExt;
pub use tokio_serial::{DataBits, FlowControl, Parity, SerialPort, SerialStream, StopBits};

/// A byte stream a driver can talk over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}

/// Serial line settings of a device (baud rate and frame format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSettings {
    pub baud: u32,
    pub data_bits: DataBits,
    pub parity: Parity,
    pub stop_bits: StopBits,
}

impl LineSettings {
    /// 8 data bits, no parity, one stop bit.
    pub const fn n81(baud: u32) -> Self {
        Self {
            baud,
            data_bits: DataBits::Eight,
            parity: Parity::None,
            stop_bits: StopBits::One,
        }
    }
    /// 8 data bits, no parity, two stop bits (ITL SSP).
    pub const fn n82(baud: u32) -> Self {
        Self {
            baud,
            data_bits: DataBits::Eight,
            parity: Parity::None,
            stop_bits: StopBits::Two,
        }
    }
    /// 8 data bits, even parity, one stop bit (JCM ID-003).
    pub const fn e81(baud: u32) -> Self {
        Self {
            baud,
            data_bits: DataBits::Eight,
            parity: Parity::Even,
            stop_bits: StopBits::One,
        }
    }

    /// Reads the settings a port is currently configured with.
    pub fn of(port: &dyn SerialPort) -> Result<Self, Error> {
        Ok(Self {
            baud: port.baud_rate()?,
            data_bits: port.data_bits()?,
            parity: port.parity()?,
            stop_bits: port.stop_bits()?,
        })
    }
}

impl std::fmt::Display for LineSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bits = match self.data_bits {
            DataBits::Five => 5,
            DataBits::Six => 6,
            DataBits::Seven => 7,
            DataBits::Eight => 8,
        };
        let parity = match self.parity {
            Parity::None => 'N',
            Parity::Odd => 'O',
            Parity::Even => 'E',
        };
        let stop = match self.stop_bits {
            StopBits::One => 1,
            StopBits::Two => 2,
        };
        write!(f, "{} {bits}{parity}{stop}", self.baud)
    }
}

/// Errors opening or configuring a port.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The serial port layer refused (no such device, permission, bad setting).
    #[error("serial port {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: tokio_serial::Error,
    },
    /// Reading or applying the line settings failed.
    #[error("serial line settings: {0}")]
    Settings(#[from] tokio_serial::Error),
    /// Plain I/O error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Opens a serial port (or the slave side of a pseudo-terminal) with the given settings,
/// in raw mode, without flow control.
pub fn open_serial(path: impl AsRef<Path>, settings: LineSettings) -> Result<SerialStream, Error> {
    let path = path.as_ref();
    tokio_serial::new(path.to_string_lossy(), settings.baud)
        .data_bits(settings.data_bits)
        .parity(settings.parity)
        .stop_bits(settings.stop_bits)
        .flow_control(FlowControl::None)
        .timeout(Duration::from_millis(100))
        .open_native_async()
        .map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })
}

/// A pseudo-terminal standing in for a device's serial port.
///
/// The simulator owns [`Pty::device`] (the master side) and speaks the device's side of
/// the protocol on it; the driver opens [`Pty::path`] (the slave) like any serial port.
/// The slave is also kept open here so the master never sees a hang-up while the driver
/// closes and reopens the port.
#[derive(Debug)]
pub struct Pty {
    /// The device's end.
    pub device: SerialStream,
    slave: SerialStream,
    path: PathBuf,
}

impl Pty {
    /// Creates a pair and puts the slave at the device's line settings.
    pub fn new(settings: LineSettings) -> Result<Self, Error> {
        let (device, mut slave) = SerialStream::pair()?;
        slave.set_baud_rate(settings.baud)?;
        slave.set_data_bits(settings.data_bits)?;
        slave.set_parity(settings.parity)?;
        slave.set_stop_bits(settings.stop_bits)?;
        slave.set_flow_control(FlowControl::None)?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| io::Error::other("pseudo-terminal slave has no name"))?;
        Ok(Self {
            device,
            slave,
            path,
        })
    }

    /// Path of the slave side: what the driver opens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings currently applied to the slave side (what the last opener configured).
    pub fn line_settings(&self) -> Result<LineSettings, Error> {
        LineSettings::of(&self.slave)
    }

    /// Splits into the device end and a guard that keeps the slave open.
    pub fn into_parts(self) -> (SerialStream, SlaveGuard) {
        (
            self.device,
            SlaveGuard {
                _slave: self.slave,
                path: self.path,
            },
        )
    }
}

/// Keeps the slave side of a [`Pty`] open for as long as it lives.
#[derive(Debug)]
pub struct SlaveGuard {
    _slave: SerialStream,
    path: PathBuf,
}

impl SlaveGuard {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads exactly `buf.len()` bytes or fails with `TimedOut` after `timeout`.
pub async fn read_exact_timeout<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
    timeout: Duration,
) -> io::Result<()> {
    match tokio::time::timeout(timeout, reader.read_exact(buf)).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "device did not answer in time",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn pty_carries_bytes_both_ways_at_device_settings() {
        let pty = Pty::new(LineSettings::n82(9600)).unwrap();
        let mut host = open_serial(pty.path(), LineSettings::n82(9600)).unwrap();
        assert_eq!(LineSettings::of(&host).unwrap(), LineSettings::n82(9600));
        assert_eq!(pty.line_settings().unwrap().to_string(), "9600 8N2");
        let (mut device, _guard) = pty.into_parts();

        // Every byte value must pass untouched (raw mode: no echo, no CR/LF mapping, no XON/XOFF).
        let all: Vec<u8> = (0..=255).collect();
        host.write_all(&all).await.unwrap();
        let mut got = vec![0; 256];
        read_exact_timeout(&mut device, &mut got, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(got, all);

        device
            .write_all(&[0x7F, 0x0D, 0x0A, 0x11, 0x13])
            .await
            .unwrap();
        let mut back = [0; 5];
        read_exact_timeout(&mut host, &mut back, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(back, [0x7F, 0x0D, 0x0A, 0x11, 0x13]);
        let mut none = [0; 1];
        assert!(
            tokio::time::timeout(Duration::from_millis(100), host.read(&mut none))
                .await
                .is_err()
        );
    }

    #[test]
    fn even_parity_is_shown_as_e() {
        assert_eq!(LineSettings::e81(9600).to_string(), "9600 8E1");
        assert_eq!(LineSettings::n81(115200).to_string(), "115200 8N1");
    }
}
