/**
 * JUnit XML: one <testsuite> per result (lab/test), one <testcase> per case, a <failure> naming
 * the threshold a case broke. Degraded / unverified / noisy labels go into properties and
 * system-out, and "[degraded]" into the case name so CI listings show it. Each case's time is the
 * seconds its trials took (ReportRow.durationS); a suite's is the sum of its cases.
 */
import {type XmlElement, el, renderXml, textEl} from '../compile/xml.js'
import {fmtGbps, rowLabels} from './rows.js'
import type {Verdict} from './thresholds.js'

function seconds(value: number): string {
  return value.toFixed(3)
}

export function renderJunit(verdicts: readonly Verdict[], options: {name?: string} = {}): string {
  const suites = new Map<string, Verdict[]>()
  for (const v of verdicts) {
    const key = `${v.row.lab}/${v.row.test}`
    const list = suites.get(key) ?? []
    list.push(v)
    suites.set(key, list)
  }
  const failures = verdicts.filter((v) => !v.pass).length
  const suiteElements: XmlElement[] = [...suites.entries()].map(([name, list]) => {
    const first = list[0]
    return el('testsuite', {name, tests: list.length, failures: list.filter((v) => !v.pass).length, errors: 0, skipped: 0, time: seconds(list.reduce((sum, v) => sum + v.row.durationS, 0))},
      el('properties', {},
        el('property', {name: 'architecture', value: first?.row.architecture ?? ''}),
        el('property', {name: 'degraded', value: first === undefined ? '' : first.row.degraded.join('; ')}),
        el('property', {name: 'datapath.verified', value: String(first?.row.datapathVerified ?? false)}),
        el('property', {name: 'accel', value: first?.row.accel ?? 'unknown'}),
      ),
      list.map((v) => {
        const labels = rowLabels(v.row)
        const degraded = v.row.degraded.length > 0
        const summary = `${fmtGbps(v.row.gbps)} Gbit/s median (min ${fmtGbps(v.row.minGbps)}, max ${fmtGbps(v.row.maxGbps)}) over ${v.row.trials} trial(s)` +
          (v.changePct === undefined ? '' : `; ${v.changePct >= 0 ? '+' : ''}${v.changePct} % vs baseline ${fmtGbps(v.baselineGbps ?? 0)}`)
        return el('testcase', {classname: `virtlab.${v.row.lab}.${v.row.test}`, name: `${v.row.caseId}${degraded ? ' [degraded]' : ''}`, time: seconds(v.row.durationS)},
          !v.pass && textEl('failure', v.failures.join('\n'), {message: v.failures.join('; '), type: 'threshold'}),
          textEl('system-out', [summary, ...labels, ...v.warnings.map((w) => `warning: ${w}`)].join('\n')),
        )
      }),
    )
  })
  const total = seconds(verdicts.reduce((sum, v) => sum + v.row.durationS, 0))
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + renderXml(el('testsuites', {name: options.name ?? 'virtlab', tests: verdicts.length, failures, errors: 0, time: total}, suiteElements))
}
