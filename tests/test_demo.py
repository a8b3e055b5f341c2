"""The demo runs end to end on the bundled data with the shipped model and prints computed figures."""
import os
import re

import obspy

from geokeras import demo


def test_demo_writes_outputs_and_prints_figures(tmp_path, capsys):
    assert demo.main(["--outdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1. Real noisy record BK.ORV.." in out and "2. Controlled check on held-out stations" in out
    assert re.search(r"noise RMS, first [\d.]+ s.*: +[\d.]+ -> +[\d.]+ counts \([+-][\d.]+ dB\)", out)
    assert re.search(r"all 82 noisy records: noise RMS before the P pick [+-][\d.]+ dB", out)
    rows = re.findall(r"^ +denoised +(-?[\d.]+) +(-?[\d.]+) +(-?[\d.]+) +([\d.]+)$", out, flags=re.M)
    assert len(rows) == 3  # the featured event, the median over all held-out traces, the same in band
    assert "the same traces in band" in out
    assert "3. Detection on a continuous record: 1 h of " in out
    found = re.findall(r"^   (raw|band-pass 1-20 Hz|Wiener \(classical\)|denoised) +((?:\d+/\d+ +){4}) *([\d.]+) +([\d.]+)$", out, flags=re.M)
    assert [f[0] for f in found] == ["raw", "band-pass 1-20 Hz", "Wiener (classical)", "denoised"]
    for _, hits, thr, ratio in found:
        pairs = [tuple(map(int, h.split("/"))) for h in hits.split()]
        assert all(0 <= k <= n for k, n in pairs) and sum(n for _, n in pairs) > 10
        assert float(thr) > 1 and float(ratio) >= 1
    for snr, gain, corr, peak in rows:
        assert snr == gain  # input SNR is 0 dB, so the output SNR is the gain
        assert -1 <= float(corr) <= 1 and float(peak) > 0
    names = sorted(os.listdir(tmp_path))
    assert "noisy_BK_ORV_2014012923371049.png" in names
    for name in names:
        if name.endswith(".mseed"):
            st = obspy.read(str(tmp_path / name))
            assert all(tr.stats.sampling_rate == 100.0 and tr.stats.npts >= 2950 for tr in st)
    assert sum(n.endswith(".png") for n in names) == 2 and sum(n.endswith(".mseed") for n in names) == 5
