//! USB printer class transport (USB 打印机类, interface class 7) through `rusb`.
//!
//! [`find_endpoints`] is pure: it picks the printer interface and its bulk OUT / bulk IN
//! endpoints from a small descriptor model, so it is tested without hardware.
//! [`open`] finds the device, claims the interface and returns a [`devio::Transport`]
//! (a `tokio::io::DuplexStream`) bridged to two blocking threads that do the bulk
//! transfers with timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusb::UsbContext;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// USB interface class of printers.
pub const PRINTER_CLASS: u8 = 7;

/// Which USB device to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsbSelector {
    /// The first device with a printer-class interface.
    AnyPrinter,
    /// A device by vendor and product id.
    VidPid(u16, u16),
}

impl std::str::FromStr for UsbSelector {
    type Err = String;
    /// Parses `VID:PID` in hexadecimal, e.g. `0483:5720`, or `any` for the first printer.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("any") {
            return Ok(Self::AnyPrinter);
        }
        let (v, p) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not VID:PID"))?;
        let v = u16::from_str_radix(v.trim_start_matches("0x"), 16)
            .map_err(|e| format!("vendor id {v:?}: {e}"))?;
        let p = u16::from_str_radix(p.trim_start_matches("0x"), 16)
            .map_err(|e| format!("product id {p:?}: {e}"))?;
        Ok(Self::VidPid(v, p))
    }
}

impl std::fmt::Display for UsbSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AnyPrinter => f.write_str("any USB printer (interface class 7)"),
            Self::VidPid(v, p) => write!(f, "USB {v:04x}:{p:04x}"),
        }
    }
}

/// Transfer type of an endpoint (only bulk matters here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Control,
    Isochronous,
    Bulk,
    Interrupt,
}

/// An endpoint descriptor, reduced to what endpoint discovery needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointDesc {
    /// Endpoint address; bit 7 set = IN (device to host).
    pub address: u8,
    pub transfer: Transfer,
}

/// One alternate setting of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceDesc {
    pub number: u8,
    pub alt_setting: u8,
    pub class: u8,
    pub endpoints: Vec<EndpointDesc>,
}

/// Where to talk to the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterEndpoints {
    pub interface: u8,
    pub alt_setting: u8,
    /// Bulk OUT endpoint: receipts and status requests.
    pub bulk_out: u8,
    /// Bulk IN endpoint: status replies. Unidirectional printers have none.
    pub bulk_in: Option<u8>,
}

/// Picks the printer interface: class 7 preferred (any class when `any_class`, for
/// devices matched by VID:PID that declare a vendor class), with a bulk OUT endpoint;
/// among those the first alternate setting that also has a bulk IN endpoint
/// (bidirectional, needed for DLE EOT status).
pub fn find_endpoints(interfaces: &[InterfaceDesc], any_class: bool) -> Option<PrinterEndpoints> {
    let candidates = interfaces.iter().filter_map(|i| {
        let bulk = |dir_in: bool| {
            i.endpoints
                .iter()
                .find(|e| e.transfer == Transfer::Bulk && (e.address & 0x80 != 0) == dir_in)
                .map(|e| e.address)
        };
        let out = bulk(false)?;
        Some((
            i,
            PrinterEndpoints {
                interface: i.number,
                alt_setting: i.alt_setting,
                bulk_out: out,
                bulk_in: bulk(true),
            },
        ))
    });
    let (printer_class, other): (Vec<_>, Vec<_>) =
        candidates.partition(|(i, _)| i.class == PRINTER_CLASS);
    let best = |list: &[(&InterfaceDesc, PrinterEndpoints)]| {
        list.iter()
            .find(|(_, e)| e.bulk_in.is_some())
            .or_else(|| list.first())
            .map(|(_, e)| *e)
    };
    best(&printer_class).or_else(|| if any_class { best(&other) } else { None })
}

/// Errors opening a USB printer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsbError {
    /// libusb could not start: no USB subsystem (containers) or no access to it.
    #[error("cannot start libusb (no USB subsystem, or no access to /dev/bus/usb): {0}")]
    Context(#[source] rusb::Error),
    /// libusb failed (no USB subsystem, permission denied, busy, …).
    #[error("USB: {0}")]
    Usb(#[from] rusb::Error),
    /// No matching device is attached.
    #[error("no USB printer found ({0})")]
    NotFound(UsbSelector),
    /// The device has no interface with a bulk OUT endpoint.
    #[error("USB device {vid:04x}:{pid:04x} has no printer interface with a bulk OUT endpoint")]
    NoEndpoints { vid: u16, pid: u16 },
}

fn describe<T: UsbContext>(device: &rusb::Device<T>) -> Result<Vec<InterfaceDesc>, rusb::Error> {
    let config = device
        .active_config_descriptor()
        .or_else(|_| device.config_descriptor(0))?;
    let mut out = Vec::new();
    for interface in config.interfaces() {
        for d in interface.descriptors() {
            out.push(InterfaceDesc {
                number: d.interface_number(),
                alt_setting: d.setting_number(),
                class: d.class_code(),
                endpoints: d
                    .endpoint_descriptors()
                    .map(|e| EndpointDesc {
                        address: e.address(),
                        transfer: match e.transfer_type() {
                            rusb::TransferType::Control => Transfer::Control,
                            rusb::TransferType::Isochronous => Transfer::Isochronous,
                            rusb::TransferType::Bulk => Transfer::Bulk,
                            rusb::TransferType::Interrupt => Transfer::Interrupt,
                        },
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// Timeout of one bulk transfer.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);
/// Poll interval of the IN endpoint (a read that times out is retried).
const READ_POLL: Duration = Duration::from_millis(200);

/// Opens the printer, claims its interface (detaching the kernel's `usblp` driver if it
/// holds it) and returns a byte stream to it. Must be called inside a tokio runtime.
pub fn open(selector: UsbSelector) -> Result<DuplexStream, UsbError> {
    // An explicit context: the global one panics where there is no USB subsystem.
    let context = rusb::Context::new().map_err(UsbError::Context)?;
    let mut found = None;
    for device in context.devices()?.iter() {
        let Ok(desc) = device.device_descriptor() else {
            continue;
        };
        let (vid, pid) = (desc.vendor_id(), desc.product_id());
        let wanted = match selector {
            UsbSelector::VidPid(v, p) => v == vid && p == pid,
            UsbSelector::AnyPrinter => true,
        };
        if !wanted {
            continue;
        }
        let Ok(interfaces) = describe(&device) else {
            continue;
        };
        let any_class = matches!(selector, UsbSelector::VidPid(..));
        match find_endpoints(&interfaces, any_class) {
            Some(ep) => {
                found = Some((device, ep));
                break;
            }
            None if any_class => return Err(UsbError::NoEndpoints { vid, pid }),
            None => {}
        }
    }
    let (device, ep) = found.ok_or(UsbError::NotFound(selector))?;
    let handle = device.open()?;
    if handle.kernel_driver_active(ep.interface).unwrap_or(false) {
        handle.detach_kernel_driver(ep.interface)?;
    }
    handle.claim_interface(ep.interface)?;
    if ep.alt_setting != 0 {
        handle.set_alternate_setting(ep.interface, ep.alt_setting)?;
    }
    tracing::info!(?ep, "USB printer interface claimed");
    Ok(bridge(Arc::new(handle), ep))
}

/// Connects a duplex stream to the blocking bulk transfers: a writer thread for OUT, a
/// reader thread polling IN, and a small task moving bytes between them and the stream.
fn bridge(handle: Arc<rusb::DeviceHandle<rusb::Context>>, ep: PrinterEndpoints) -> DuplexStream {
    let (app, mut dev) = tokio::io::duplex(64 * 1024);
    let (to_usb, from_app) = std::sync::mpsc::channel::<Vec<u8>>();
    let (to_app, mut from_usb) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let stop = Arc::new(AtomicBool::new(false));

    let h = Arc::clone(&handle);
    std::thread::Builder::new()
        .name("usb-printer-out".into())
        .spawn(move || {
            while let Ok(buf) = from_app.recv() {
                let mut rest = &buf[..];
                while !rest.is_empty() {
                    match h.write_bulk(ep.bulk_out, rest, TRANSFER_TIMEOUT) {
                        Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                        Err(e) => {
                            tracing::warn!("USB printer write failed: {e}");
                            return;
                        }
                    }
                }
            }
            let _ = h.release_interface(ep.interface);
        })
        .ok();

    if let Some(bulk_in) = ep.bulk_in {
        let h = Arc::clone(&handle);
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("usb-printer-in".into())
            .spawn(move || {
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    match h.read_bulk(bulk_in, &mut buf, READ_POLL) {
                        Ok(0) | Err(rusb::Error::Timeout) => {}
                        Ok(n) => {
                            if to_app
                                .blocking_send(buf.get(..n).unwrap_or_default().to_vec())
                                .is_err()
                            {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("USB printer read failed: {e}");
                            return;
                        }
                    }
                }
            })
            .ok();
    }

    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            tokio::select! {
                r = dev.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to_usb.send(buf.get(..n).unwrap_or_default().to_vec()).is_err() {
                            break;
                        }
                    }
                },
                Some(bytes) = from_usb.recv() => {
                    if dev.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    app
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(address: u8, transfer: Transfer) -> EndpointDesc {
        EndpointDesc { address, transfer }
    }

    #[test]
    fn finds_bidirectional_printer_interface() {
        let ifaces = vec![
            InterfaceDesc {
                number: 0,
                alt_setting: 0,
                class: 3,
                endpoints: vec![ep(0x81, Transfer::Interrupt)],
            },
            InterfaceDesc {
                number: 1,
                alt_setting: 0,
                class: 7,
                endpoints: vec![ep(0x02, Transfer::Bulk)],
            },
            InterfaceDesc {
                number: 1,
                alt_setting: 1,
                class: 7,
                endpoints: vec![ep(0x02, Transfer::Bulk), ep(0x82, Transfer::Bulk)],
            },
        ];
        assert_eq!(
            find_endpoints(&ifaces, false),
            Some(PrinterEndpoints {
                interface: 1,
                alt_setting: 1,
                bulk_out: 0x02,
                bulk_in: Some(0x82)
            })
        );
    }

    #[test]
    fn unidirectional_printer_has_no_in_endpoint() {
        let ifaces = vec![InterfaceDesc {
            number: 0,
            alt_setting: 0,
            class: 7,
            endpoints: vec![ep(0x01, Transfer::Bulk)],
        }];
        assert_eq!(
            find_endpoints(&ifaces, false),
            Some(PrinterEndpoints {
                interface: 0,
                alt_setting: 0,
                bulk_out: 0x01,
                bulk_in: None
            })
        );
    }

    #[test]
    fn vendor_class_only_when_selected_by_id() {
        let ifaces = vec![InterfaceDesc {
            number: 0,
            alt_setting: 0,
            class: 0xFF,
            endpoints: vec![ep(0x81, Transfer::Bulk), ep(0x03, Transfer::Bulk)],
        }];
        assert_eq!(find_endpoints(&ifaces, false), None);
        assert_eq!(
            find_endpoints(&ifaces, true).map(|e| (e.bulk_out, e.bulk_in)),
            Some((0x03, Some(0x81)))
        );
    }

    #[test]
    fn no_bulk_out_no_printer() {
        let ifaces = vec![InterfaceDesc {
            number: 0,
            alt_setting: 0,
            class: 7,
            endpoints: vec![ep(0x81, Transfer::Bulk), ep(0x02, Transfer::Interrupt)],
        }];
        assert_eq!(find_endpoints(&ifaces, true), None);
    }

    #[test]
    fn parses_vid_pid() {
        assert_eq!(
            "0483:5720".parse::<UsbSelector>(),
            Ok(UsbSelector::VidPid(0x0483, 0x5720))
        );
        assert!("0483".parse::<UsbSelector>().is_err());
        assert!("zz:1".parse::<UsbSelector>().is_err());
        assert_eq!("any".parse::<UsbSelector>(), Ok(UsbSelector::AnyPrinter));
        assert_eq!(
            UsbSelector::VidPid(0x0483, 0x5720).to_string(),
            "USB 0483:5720"
        );
    }
}
