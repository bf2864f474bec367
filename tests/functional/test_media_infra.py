"""The packaged template gives the media worker its memory, 900 s, a large /tmp and the ffmpeg layer."""

from __future__ import annotations


def test_merge_template_configures_the_media_worker():
    from academy_cli.package_cmd import merge_template
    from chalicelib.jobs.queues import QUEUES

    template = merge_template("prod")
    spec = QUEUES["media"]
    props = template["Resources"]["RunMediaJobs"]["Properties"]
    assert props["Timeout"] == 900 == spec.function_timeout
    assert props["MemorySize"] == spec.memory_mb >= 2048
    assert props["EphemeralStorage"] == {"Size": spec.ephemeral_mb}
    assert props["Layers"] == [{"Ref": "FfmpegLayer"}]
    layer = template["Resources"]["FfmpegLayer"]
    assert layer["Type"] == "AWS::Lambda::LayerVersion"
    assert layer["Properties"]["Content"] == {"S3Bucket": {"Ref": "FfmpegLayerBucket"}, "S3Key": {"Ref": "FfmpegLayerKey"}}
    assert {"FfmpegLayerBucket", "FfmpegLayerKey"} <= set(template["Parameters"])
    assert spec.visibility_timeout >= 6 * props["Timeout"] or spec.visibility_timeout == 43200
