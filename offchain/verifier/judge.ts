/**
 * How a verifier judges a dispute: fetch the evidence (every blob checked against its hash, the manifest against the
 * disputed receipt), re-encode the source with the requested renditions, and compare (decode, size, frames,
 * duration, SSIM/PSNR against the own encode, exact bytes for deterministic renditions). docs/disputes.md.
 */
import { fetchEvidence } from "../disputes/evidence";
import type { MediaTools } from "../media/binaries";
import { compareSegment, judgeComparison } from "../media/compare";
import { receiptFromJson } from "../orchestrator/receipt";
import type { Judge } from "./verifier";

export interface JudgeOptions {
  /** Per evidence download. */
  fetchTimeoutMs?: number;
  maxEvidenceBytes?: number;
}

export function evidenceJudge(tools: MediaTools, options: JudgeOptions = {}): Judge {
  return async (dispute) => {
    const evidence = await fetchEvidence(dispute.evidenceUri, receiptFromJson(dispute.receipt), {
      timeoutMs: options.fetchTimeoutMs,
      maxBytes: options.maxEvidenceBytes,
    });
    const report = await compareSegment(tools, evidence.source, evidence.ladder, evidence.outputs);
    const { verdict, reasons } = judgeComparison(report);
    if (verdict === "fault") return { vote: "Fault", reasons };
    const worst = Math.min(...report.renditions.map((r) => r.quality?.ssim ?? 1));
    return { vote: "NoFault", reasons: [`every rendition matches the own encode (lowest SSIM ${worst.toFixed(4)})`] };
  };
}
