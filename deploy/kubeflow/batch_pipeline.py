"""A Kubeflow Pipelines pipeline that runs `ragserve batch` against a model server.

Compile with ``python deploy/kubeflow/batch_pipeline.py batch_pipeline.yaml`` (the tests
compile it with the kfp SDK) and upload the YAML to KFP. The input and output are
OpenAI batch JSONL files; a retried step resumes where the failed one stopped, because
`ragserve batch` skips ids already in the output.
"""

import sys

from kfp import compiler, dsl

RAGSERVE_IMAGE = "ghcr.io/ragserve/ragserve:0.1.0"


@dsl.container_component
def ragserve_batch(
    requests: dsl.Input[dsl.Dataset],
    results: dsl.Output[dsl.Dataset],
    base_url: str,
    concurrency: int = 16,
    max_retries: int = 5,
) -> dsl.ContainerSpec:
    """Run one OpenAI batch file against ``base_url`` (e.g. a KServe vLLM predictor)."""
    return dsl.ContainerSpec(
        image=RAGSERVE_IMAGE,
        command=["ragserve", "batch"],
        args=[
            requests.path,
            results.path,
            "--base-url",
            base_url,
            "--concurrency",
            concurrency,
            "--max-retries",
            max_retries,
        ],
    )


@dsl.pipeline(name="ragserve-batch", description="OpenAI batch inference with ragserve batch.")
def batch_pipeline(
    requests_uri: str,
    base_url: str = "http://vllm-predictor.default.svc.cluster.local/v1",
    concurrency: int = 16,
) -> None:
    requests = dsl.importer(artifact_uri=requests_uri, artifact_class=dsl.Dataset, reimport=False)
    step = ragserve_batch(requests=requests.output, base_url=base_url, concurrency=concurrency)
    step.set_retry(num_retries=3, backoff_duration="30s")


if __name__ == "__main__":
    compiler.Compiler().compile(
        batch_pipeline, sys.argv[1] if len(sys.argv) > 1 else "batch_pipeline.yaml"
    )
