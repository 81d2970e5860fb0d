import { expect } from "chai";

import { diffSnapshots, formatDiff } from "../../scripts/lib/gasSnapshot";

describe("gas snapshot comparison", () => {
  it("finds changed, added and removed operations", () => {
    const before = { "a.op": 100, "b.op": 200, "c.op": 300 };
    const after = { "a.op": 100, "b.op": 180, "d.op": 50 };
    expect(diffSnapshots(before, after)).to.deep.equal([
      { label: "b.op", before: 200, after: 180 },
      { label: "c.op", before: 300, after: undefined },
      { label: "d.op", before: undefined, after: 50 },
    ]);
  });

  it("finds nothing when the snapshots agree", () => {
    expect(diffSnapshots({ x: 1 }, { x: 1 })).to.deep.equal([]);
  });

  it("prints signed deltas", () => {
    const text = formatDiff(diffSnapshots({ x: 100, y: 5 }, { x: 120, z: 7 }));
    expect(text).to.equal("  x: 100 -> 120 (+20)\n  - y: 5\n  + z: 7");
  });
});
