/**
 * What a new grant would give that the exchange will never honour: scopes the subject is not
 * entitled to on the resource, or above the actor's ceiling. The API accepts such a grant (the
 * exchange intersects at mint time); the console warns before creating it.
 */

export interface GrantWarning {
  scope: string;
  reason: 'not_entitled' | 'above_actor_ceiling';
  message: string;
}

export function grantWarnings(
  scopes: readonly string[],
  facts: { subject: string; actor: string; entitled: readonly string[]; ceiling: readonly string[] },
): GrantWarning[] {
  const warnings: GrantWarning[] = [];
  for (const scope of scopes) {
    if (!facts.entitled.includes(scope)) {
      warnings.push({ scope, reason: 'not_entitled', message: `${facts.subject} is not entitled to ${scope} on this resource` });
    }
    if (!facts.ceiling.includes(scope)) {
      warnings.push({ scope, reason: 'above_actor_ceiling', message: `${scope} is above ${facts.actor}'s scope ceiling` });
    }
  }
  return warnings;
}
