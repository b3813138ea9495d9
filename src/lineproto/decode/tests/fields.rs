//! The structured field scan against the port of 1.x `scanFields`.

use crate::lineproto::scan;
use crate::lineproto::ErrorKind;
use crate::lineproto::{DecodeOptions, Decoder};
use proptest::prelude::*;

fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        6 => prop::sample::select(b"ab0123456789".to_vec()),
        6 => prop::sample::select(b",= \"\\.-ieEtfTFuNn\t".to_vec()),
    ];
    prop::collection::vec(byte, 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    /// The structured field scan gives exactly the verdict of the port of 1.x `scanFields`
    /// (documented deviations aside).
    #[test]
    fn fields_agree_with_the_1x_scanner(fields in field_bytes(), unsigned in any::<bool>()) {
        let line = [b"m ".as_slice(), &fields].concat();
        let opts = DecodeOptions { accept_unsigned: unsigned, ..DecodeOptions::default() };
        let mut dec = Decoder::new();
        let ours = dec.decode(&line, &opts).map(|_| ());
        match scan::scan_fields(&line, 1, unsigned) {
            Err(theirs) => prop_assert_eq!(ours, Err(theirs), "{:?}", String::from_utf8_lossy(&line)),
            Ok(_) => {
                // `FieldKeyRunsOn` is 1.x's own later verdict on a section `scanFields` accepts
                // (its `walkFields`, for a key ending in a backslash).
                let allowed = matches!(
                    ours,
                    Ok(())
                        | Err(ErrorKind::InvalidFieldFormat
                            | ErrorKind::FieldKeyRunsOn(_)
                            | ErrorKind::MissingFieldKey
                            | ErrorKind::BadTimestamp
                            | ErrorKind::PointIsInvalid
                            | ErrorKind::TimestampSyntax(_)
                            | ErrorKind::TimestampOutOfRange(_)
                            | ErrorKind::TimeOutsideRange)
                );
                prop_assert!(allowed, "{:?}: {:?}", String::from_utf8_lossy(&line), ours);
            }
        }
    }
}
