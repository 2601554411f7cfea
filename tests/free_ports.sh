# free_ports.sh — sourced by the cluster script tests: free_port_range
# prints the first port P of a free range P..P+30 (tools/cluster.sh uses
# P..P+30), picked at random below the ephemeral range (32768 and up), so
# that no outgoing connection holds one of them; sockets of any state
# count as taken.
free_port_range() {
	local port
	for _ in 1 2 3 4 5 6 7 8; do
		port=$((20000 + (RANDOM % 120) * 100))
		ss -Htan | awk '{print $4}' | sed 's/.*://' |
			awk -v p="$port" '$1 >= p && $1 <= p + 30' | grep -q . || break
	done
	echo "$port"
}
