from shared.fingerprint import fingerprint


def test_matches_prometheus_label_set_fingerprint() -> None:
    # Reference values from prometheus/common model.labelSetToFingerprint tests.
    assert int(fingerprint({}), 16) == 14695981039346656037
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert int(fingerprint(labels), 16) == 5799056148416392346


def test_is_independent_of_label_order_and_honours_ignored_labels() -> None:
    a = {"alertname": "X", "instance": "a:9100", "replica": "0"}
    b = {"replica": "1", "instance": "a:9100", "alertname": "X"}
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a, ignore=["replica"]) == fingerprint(b, ignore=["replica"])
    assert len(fingerprint(a)) == 16
