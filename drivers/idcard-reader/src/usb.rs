//! USB bulk transport for readers with a USB interface (e.g. CVR-100U, iDR210 USB).
//!
//! The reader moves SAM_V frames over a bulk OUT / bulk IN endpoint pair (0x02/0x81 or
//! 0x06/0x85 [V]). [`UsbReader::into_transport`] bridges the pair to an async byte stream
//! so [`crate::IdCardReader`] runs unchanged over USB: each host frame goes out as one
//! bulk transfer, whatever comes in is handed to the driver's frame decoder.
//!
//! An explicit [`rusb::Context`] is used, never libusb's global one.

use std::sync::Arc;
use std::time::Duration;

use rusb::{Direction, TransferType, UsbContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::frame::{FrameDecoder, encode_frame};

/// One endpoint of the device's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointInfo {
    /// Interface number.
    pub interface: u8,
    /// Endpoint address (bit 7 set = IN).
    pub address: u8,
    /// Bulk transfer type.
    pub bulk: bool,
}

impl EndpointInfo {
    fn is_in(&self) -> bool {
        self.address & 0x80 != 0
    }
}

/// The chosen bulk endpoint pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkEndpoints {
    /// Interface to claim.
    pub interface: u8,
    /// Bulk OUT endpoint address.
    pub out_ep: u8,
    /// Bulk IN endpoint address.
    pub in_ep: u8,
}

/// Endpoint pairs ID card readers are known to use, most common first.
pub const KNOWN_PAIRS: [(u8, u8); 2] = [(0x02, 0x81), (0x06, 0x85)];

/// Picks the bulk pair: a known reader pair on one interface if present, else the first
/// bulk OUT and first bulk IN endpoint of the same interface.
pub fn select_endpoints(endpoints: &[EndpointInfo]) -> Option<BulkEndpoints> {
    let bulk: Vec<&EndpointInfo> = endpoints.iter().filter(|e| e.bulk).collect();
    for (out_ep, in_ep) in KNOWN_PAIRS {
        for o in bulk.iter().filter(|e| e.address == out_ep) {
            if bulk
                .iter()
                .any(|i| i.address == in_ep && i.interface == o.interface)
            {
                return Some(BulkEndpoints {
                    interface: o.interface,
                    out_ep,
                    in_ep,
                });
            }
        }
    }
    for o in bulk.iter().filter(|e| !e.is_in()) {
        if let Some(i) = bulk
            .iter()
            .find(|i| i.is_in() && i.interface == o.interface)
        {
            return Some(BulkEndpoints {
                interface: o.interface,
                out_ep: o.address,
                in_ep: i.address,
            });
        }
    }
    None
}

/// Which device to open: `VID:PID` in hex, e.g. `0400:c35a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsbSelector {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
}

impl std::str::FromStr for UsbSelector {
    type Err = UsbError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UsbError::BadSelector(s.to_owned());
        let (v, p) = s.split_once(':').ok_or_else(bad)?;
        Ok(Self {
            vid: u16::from_str_radix(v.trim(), 16).map_err(|_| bad())?,
            pid: u16::from_str_radix(p.trim(), 16).map_err(|_| bad())?,
        })
    }
}

/// USB problems.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsbError {
    /// libusb failed.
    #[error("USB: {0}")]
    Usb(#[from] rusb::Error),
    /// No device with that VID:PID.
    #[error("no USB device {vid:04x}:{pid:04x}")]
    NotFound {
        /// Vendor id.
        vid: u16,
        /// Product id.
        pid: u16,
    },
    /// The device has no usable bulk endpoint pair.
    #[error("USB device has no bulk OUT/IN endpoint pair")]
    NoBulkEndpoints,
    /// The selector is not `VID:PID` in hex.
    #[error("USB device selector {0:?} is not VID:PID in hex")]
    BadSelector(String),
}

/// An opened USB reader.
#[derive(Debug)]
pub struct UsbReader {
    handle: Arc<rusb::DeviceHandle<rusb::Context>>,
    endpoints: BulkEndpoints,
    timeout: Duration,
}

impl UsbReader {
    /// Opens the first device matching `selector`, picks its bulk pair and claims the
    /// interface (detaching a kernel driver if one is bound).
    pub fn open(selector: UsbSelector) -> Result<Self, UsbError> {
        let context = rusb::Context::new()?;
        let device = context
            .devices()?
            .iter()
            .find(|d| {
                d.device_descriptor().is_ok_and(|desc| {
                    desc.vendor_id() == selector.vid && desc.product_id() == selector.pid
                })
            })
            .ok_or(UsbError::NotFound {
                vid: selector.vid,
                pid: selector.pid,
            })?;
        let config = device
            .active_config_descriptor()
            .or_else(|_| device.config_descriptor(0))?;
        let mut endpoints = Vec::new();
        for interface in config.interfaces() {
            for desc in interface.descriptors() {
                for ep in desc.endpoint_descriptors() {
                    endpoints.push(EndpointInfo {
                        interface: desc.interface_number(),
                        address: ep.address(),
                        bulk: ep.transfer_type() == TransferType::Bulk
                            && matches!(ep.direction(), Direction::In | Direction::Out),
                    });
                }
            }
        }
        let chosen = select_endpoints(&endpoints).ok_or(UsbError::NoBulkEndpoints)?;
        let handle = device.open()?;
        // Not supported on every platform; claiming still works where it is not.
        let _ = handle.set_auto_detach_kernel_driver(true);
        handle.claim_interface(chosen.interface)?;
        Ok(Self {
            handle: Arc::new(handle),
            endpoints: chosen,
            timeout: Duration::from_secs(5),
        })
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> BulkEndpoints {
        self.endpoints
    }

    /// Bridges the endpoints to an async byte stream for [`crate::IdCardReader`].
    /// Must be called inside a tokio runtime; the pump tasks end when the stream drops.
    pub fn into_transport(self) -> tokio::io::DuplexStream {
        let (driver_end, bridge) = tokio::io::duplex(8192);
        let (mut from_driver, mut to_driver) = tokio::io::split(bridge);
        let UsbReader {
            handle,
            endpoints,
            timeout,
        } = self;

        let out_handle = Arc::clone(&handle);
        tokio::spawn(async move {
            let mut decoder = FrameDecoder::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = match from_driver.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                decoder.push(buf.get(..n).unwrap_or_default());
                while let Some(frame) = decoder.next_frame() {
                    // The driver only sends well-formed frames; anything else is dropped.
                    let Ok(body) = frame else { continue };
                    let bytes = encode_frame(&body);
                    let h = Arc::clone(&out_handle);
                    let out_ep = endpoints.out_ep;
                    let r =
                        tokio::task::spawn_blocking(move || h.write_bulk(out_ep, &bytes, timeout))
                            .await;
                    if let Ok(Err(e)) = r {
                        tracing::warn!(error = %e, "USB bulk OUT failed");
                    }
                }
            }
        });

        tokio::spawn(async move {
            loop {
                let h = Arc::clone(&handle);
                let in_ep = endpoints.in_ep;
                let r = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0u8; 4096];
                    h.read_bulk(in_ep, &mut buf, Duration::from_millis(250))
                        .map(|n| {
                            buf.truncate(n);
                            buf
                        })
                })
                .await;
                match r {
                    Ok(Ok(data)) => {
                        if to_driver.write_all(&data).await.is_err() {
                            break;
                        }
                    }
                    Ok(Err(rusb::Error::Timeout)) => {
                        // Nothing from the reader; stop once the driver has gone.
                        if to_driver.flush().await.is_err() {
                            break;
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "USB bulk IN failed");
                        if matches!(e, rusb::Error::NoDevice | rusb::Error::Io) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(_) => break,
                }
            }
        });
        driver_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(interface: u8, address: u8, bulk: bool) -> EndpointInfo {
        EndpointInfo {
            interface,
            address,
            bulk,
        }
    }

    #[test]
    fn prefers_the_known_reader_pairs() {
        let eps = [
            ep(0, 0x81, true),
            ep(0, 0x02, true),
            ep(0, 0x85, true),
            ep(0, 0x06, true),
        ];
        assert_eq!(
            select_endpoints(&eps),
            Some(BulkEndpoints {
                interface: 0,
                out_ep: 0x02,
                in_ep: 0x81
            })
        );
        let eps = [ep(1, 0x85, true), ep(1, 0x06, true), ep(0, 0x83, false)];
        assert_eq!(
            select_endpoints(&eps),
            Some(BulkEndpoints {
                interface: 1,
                out_ep: 0x06,
                in_ep: 0x85
            })
        );
    }

    #[test]
    fn pair_must_share_an_interface_and_be_bulk() {
        // 0x02 and 0x81 on different interfaces; 0x06/0x85 interrupt only.
        let eps = [
            ep(0, 0x02, true),
            ep(1, 0x81, true),
            ep(2, 0x06, false),
            ep(2, 0x85, false),
        ];
        assert_eq!(select_endpoints(&eps), None);
        let eps = [ep(3, 0x01, true), ep(3, 0x82, true)];
        assert_eq!(
            select_endpoints(&eps),
            Some(BulkEndpoints {
                interface: 3,
                out_ep: 0x01,
                in_ep: 0x82
            })
        );
        assert_eq!(select_endpoints(&[]), None);
    }

    #[test]
    fn selector_parses_hex() {
        let s: UsbSelector = "0400:C35A".parse().unwrap();
        assert_eq!(
            s,
            UsbSelector {
                vid: 0x0400,
                pid: 0xC35A
            }
        );
        assert!("0400".parse::<UsbSelector>().is_err());
        assert!("zz:01".parse::<UsbSelector>().is_err());
    }
}
