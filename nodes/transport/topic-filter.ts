/** MQTT topic-filter matching (`+` one level, `#` the rest), for dispatching on a shared client. */

/**
 * A filter compiled once (at subscribe) into a test of a topic: it walks the topic's levels in
 * place rather than splitting it, since every message a shared client receives is tested against
 * every filter it holds (a 20,000-device rollout is 40,000 inbound messages).
 */
export function filterMatcher(filter: string): (topic: string) => boolean {
  if (!filter.includes('+') && !filter.includes('#')) return (topic) => topic === filter;
  const levels = filter.split('/');
  return (topic) => {
    let pos = 0;
    for (const level of levels) {
      if (level === '#') return true; // also the parent level itself: `a/#` matches `a`
      if (pos > topic.length) return false; // the topic has fewer levels
      let end = topic.indexOf('/', pos);
      if (end < 0) end = topic.length;
      if (level !== '+' && (end - pos !== level.length || !topic.startsWith(level, pos))) return false;
      pos = end + 1;
    }
    return pos > topic.length; // and no level left over
  };
}
