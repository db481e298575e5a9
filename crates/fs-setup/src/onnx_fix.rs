//! The one edit an installed model needs: dropping graph inputs that no node reads.
//!
//! OpenCV's int8 block-quantised SFace (`face_recognition_sface_2021dec_int8bq.onnx`)
//! still lists the float weights it replaced as graph inputs. OpenCV ignores them;
//! ONNX Runtime refuses the model ("input … is not used by any node" / missing inputs
//! at run time). Removing those `GraphProto.input` entries is the whole fix.
//!
//! The edit works on the protobuf wire format and copies every other byte as it is, so
//! the result is the same file `onnx.load` + `onnx.save` would write, and it can be
//! pinned by SHA-256 like any downloaded file.

use std::collections::HashSet;

use crate::error::{Context, Result, bail};

/// `ModelProto.graph`.
const MODEL_GRAPH: u64 = 7;
/// `GraphProto.node`, `GraphProto.input`, `GraphProto.output`.
const GRAPH_NODE: u64 = 1;
const GRAPH_INPUT: u64 = 11;
const GRAPH_OUTPUT: u64 = 12;
/// `NodeProto.input` and `ValueInfoProto.name`.
const NODE_INPUT: u64 = 1;
const VALUE_INFO_NAME: u64 = 1;

/// Length-delimited wire type.
const LEN: u64 = 2;

/// One field as it sits in a message: its number, wire type, the whole encoded field
/// (tag included) and, for length-delimited fields, the payload.
struct Field<'a> {
    number: u64,
    wire_type: u64,
    raw: &'a [u8],
    payload: &'a [u8],
}

/// Returns the model without the graph inputs that no node reads, and how many were
/// dropped. Only the top-level graph is looked at (the models this is for have no
/// sub-graphs); a model with nothing to drop comes back unchanged.
pub fn drop_unused_graph_inputs(model: &[u8]) -> Result<(Vec<u8>, usize)> {
    let mut out = Vec::with_capacity(model.len());
    let mut dropped = 0;
    let mut graphs = 0;
    for field in fields(model) {
        let field = field.context("not an ONNX model")?;
        if field.number == MODEL_GRAPH && field.wire_type == LEN {
            let (graph, n) = drop_in_graph(field.payload)?;
            dropped += n;
            graphs += 1;
            put_varint(&mut out, (MODEL_GRAPH << 3) | LEN);
            put_varint(&mut out, graph.len() as u64);
            out.extend_from_slice(&graph);
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    if graphs != 1 {
        bail!("not an ONNX model: {graphs} graphs");
    }
    Ok((out, dropped))
}

fn drop_in_graph(graph: &[u8]) -> Result<(Vec<u8>, usize)> {
    let mut read: HashSet<&[u8]> = HashSet::new();
    for field in fields(graph) {
        let field = field?;
        match (field.number, field.wire_type) {
            (GRAPH_NODE, LEN) => {
                for input in fields(field.payload) {
                    let input = input?;
                    if input.number == NODE_INPUT && input.wire_type == LEN {
                        read.insert(input.payload);
                    }
                }
            }
            (GRAPH_OUTPUT, LEN) => {
                read.insert(value_info_name(field.payload)?);
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(graph.len());
    let mut dropped = 0;
    for field in fields(graph) {
        let field = field?;
        if field.number == GRAPH_INPUT
            && field.wire_type == LEN
            && !read.contains(value_info_name(field.payload)?)
        {
            dropped += 1;
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    Ok((out, dropped))
}

fn value_info_name(info: &[u8]) -> Result<&[u8]> {
    for field in fields(info) {
        let field = field?;
        if field.number == VALUE_INFO_NAME && field.wire_type == LEN {
            return Ok(field.payload);
        }
    }
    bail!("a graph input or output has no name")
}

/// The fields of one message, in order.
fn fields(message: &[u8]) -> impl Iterator<Item = Result<Field<'_>>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        (at < message.len()).then(|| {
            let start = at;
            let tag = varint(message, &mut at)?;
            let (number, wire_type) = (tag >> 3, tag & 7);
            let payload_start;
            match wire_type {
                0 => {
                    varint(message, &mut at)?;
                    payload_start = at;
                }
                1 => {
                    payload_start = at;
                    at += 8;
                }
                LEN => {
                    let len = usize::try_from(varint(message, &mut at)?).map_err(|_| {
                        crate::error::Error::Mismatch(format!("field too long at byte {start}"))
                    })?;
                    payload_start = at;
                    at = at.checked_add(len).context("length overflows")?;
                }
                5 => {
                    payload_start = at;
                    at += 4;
                }
                other => bail!("unsupported protobuf wire type {other} at byte {start}"),
            }
            if at > message.len() {
                at = message.len();
                bail!("truncated protobuf field at byte {start}");
            }
            Ok(Field {
                number,
                wire_type,
                raw: &message[start..at],
                payload: &message[payload_start..at],
            })
        })
    })
}

fn varint(bytes: &[u8], at: &mut usize) -> Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&byte) = bytes.get(*at) else {
            bail!("truncated varint at byte {at}");
        };
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("varint longer than 64 bits at byte {at}")
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "seven bits at a time, masked"
)]
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, (number << 3) | LEN);
        put_varint(&mut out, payload.len() as u64);
        out.extend_from_slice(payload);
        out
    }

    fn value_info(name: &str) -> Vec<u8> {
        len_field(VALUE_INFO_NAME, name.as_bytes())
    }

    fn node(inputs: &[&str], output: &str) -> Vec<u8> {
        let mut out: Vec<u8> = inputs
            .iter()
            .flat_map(|i| len_field(NODE_INPUT, i.as_bytes()))
            .collect();
        out.extend(len_field(2, output.as_bytes()));
        out
    }

    /// `ir_version` 6, a graph `data, w_used, w_dangling -> Conv -> out`, opset 11.
    fn model(inputs: &[&str]) -> Vec<u8> {
        let mut graph = len_field(GRAPH_NODE, &node(&["data", "w_used"], "out"));
        graph.extend(len_field(2, b"g"));
        for input in inputs {
            graph.extend(len_field(GRAPH_INPUT, &value_info(input)));
        }
        graph.extend(len_field(GRAPH_OUTPUT, &value_info("out")));
        let mut model = vec![0x08, 0x06];
        model.extend(len_field(MODEL_GRAPH, &graph));
        model.extend(len_field(8, &[0x10, 0x0b]));
        model
    }

    #[test]
    fn drops_only_inputs_no_node_reads_and_keeps_every_other_byte() {
        let (fixed, dropped) =
            drop_unused_graph_inputs(&model(&["data", "w_used", "w_dangling"])).unwrap();
        assert_eq!(dropped, 1);
        assert_eq!(fixed, model(&["data", "w_used"]));
        let (again, dropped) = drop_unused_graph_inputs(&fixed).unwrap();
        assert_eq!((again, dropped), (fixed, 0));
    }

    #[test]
    fn a_graph_output_that_is_also_an_input_stays() {
        let (_, dropped) = drop_unused_graph_inputs(&model(&["data", "w_used", "out"])).unwrap();
        assert_eq!(dropped, 0);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_errors() {
        let whole = model(&["data", "w_used", "w_dangling"]);
        for cut in [1, 5, whole.len() - 3] {
            assert!(
                drop_unused_graph_inputs(&whole[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(drop_unused_graph_inputs(b"\x89PNG\r\n\x1a\n").is_err());
        assert!(drop_unused_graph_inputs(&[]).is_err());
    }
}
