"""What an ingest run did (:class:`IngestReport`), printed as its final summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.ingest.loaders import Skipped

__all__ = ["IngestReport"]


@dataclass
class IngestReport:
    """What an ingest run did; printed as the final summary and returned by the API.

    ``resumed_after``: documents already in the index that were passed over before the first
    one to do (a restarted run says where it continues); ``chunks_from_journal``: chunk
    vectors taken from the resume journal instead of the model; ``cleaned``: crash leftovers
    (temporary folders) removed at the start, as (name, bytes); ``warnings``: documents read
    with undecodable bytes (which file, how many bytes), in Chinese.
    """

    files: int = 0
    docs_added: int = 0
    docs_updated: int = 0
    docs_unchanged: int = 0
    chunks_added: int = 0
    chunks_embedded: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    checkpoints: int = 0
    checkpoint_seconds: float = 0.0
    stopped: bool = False
    resumed_after: int = 0
    chunks_from_journal: int = 0
    cleaned: list[tuple[str, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when something was ingested or everything was already up to date."""
        return bool(self.docs_added or self.docs_updated or self.docs_unchanged)

    def summary(self) -> str:
        """Human summary in Simplified Chinese."""
        lines = [
            f"文件 {self.files} 个；新增文档 {self.docs_added}，更新 {self.docs_updated}，"
            f"未变化 {self.docs_unchanged}；新增片段 {self.chunks_added}（新计算向量 {self.chunks_embedded}）；"
            f"耗时 {self.seconds:.1f} 秒（其中向量计算 {self.embed_seconds:.1f} 秒）。"
        ]
        if self.cleaned:
            lines.append(cleaned_note(self.cleaned))
        if self.resumed_after:
            lines.append(f"续传：前 {self.resumed_after} 篇已在索引中，从第 {self.resumed_after + 1} 篇继续。")
        if self.chunks_from_journal:
            lines.append(f"{self.chunks_from_journal} 段向量取自上次中断前保存的断点记录，没有重新计算。")
        if self.checkpoints:
            lines.append(f"途中提交检查点 {self.checkpoints} 次，共 {self.checkpoint_seconds:.1f} 秒"
                         "（中断后重新运行会从最后一个检查点继续）。")
        if self.stopped:
            lines.append("按要求提前停止：已完成的文档已提交，重新运行同一命令会继续导入其余文档。")
        if self.warnings:
            lines.append(f"注意 {len(self.warnings)} 项：")
            lines.extend(f"  - {w}" for w in self.warnings)
        for a, b in self.near_duplicates:
            lines.append(f"近似重复：{a} ≈ {b}")
        if self.skipped:
            lines.append(f"跳过 {len(self.skipped)} 项：")
            lines.extend(f"  - {s.path}：{s.reason}" for s in self.skipped)
        return "\n".join(lines)


def cleaned_note(cleaned: list[tuple[str, int]]) -> str:
    """One line about removed crash leftovers (Chinese)."""
    names = "、".join(name for name, _size in cleaned[:3]) + ("等" if len(cleaned) > 3 else "")
    mb = sum(size for _name, size in cleaned) / 1024 / 1024
    return f"已清理上次中断留下的临时目录 {len(cleaned)} 个（{names}，共 {mb:.1f} MB）。"
