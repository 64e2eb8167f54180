package main

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// request is one API request from client-go's -v=6 log.
type request struct {
	start, end time.Time
	// namespace is the qxsms-* namespace the URL names, "" for the rest.
	namespace string
}

// responseLine matches client-go's -v=6 log of one API response: klog's
// header (time of day, to the microsecond, once the response arrived) and the
// request's duration.
var responseLine = regexp.MustCompile(`(?m)^[IWE]\d{4} (\d\d:\d\d:\d\d\.\d{6})\s.*"Response" verb="[A-Z]+" url="https?://[^/"]*([^"]*)"(.*)$`)

var millis = regexp.MustCompile(`milliseconds=(\d+)`)

var namespaceInURL = regexp.MustCompile(`/namespaces/(qxsms-[a-z0-9-]+)`)

func parseRequestLog(log string) []request {
	var out []request
	for _, m := range responseLine.FindAllStringSubmatch(log, -1) {
		end, err := time.Parse("15:04:05.000000", m[1])
		if err != nil {
			continue
		}
		r := request{start: end, end: end}
		if ms := millis.FindStringSubmatch(m[3]); ms != nil {
			n, _ := strconv.Atoi(ms[1])
			r.start = end.Add(-time.Duration(n) * time.Millisecond)
		}
		if ns := namespaceInURL.FindStringSubmatch(m[2]); ns != nil {
			r.namespace = ns[1]
		}
		out = append(out, r)
	}
	return out
}

// chain is the longest sequence of requests each starting after the
// previous one ended: the round trips the client waited for one after the
// other. (Earliest end first is optimal for non-overlapping intervals.)
func chain(reqs []request) int {
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].end.Before(reqs[j].end) })
	n := 0
	var last time.Time
	for _, r := range reqs {
		if n == 0 || !r.start.Before(last) {
			n++
			last = r.end
		}
	}
	return n
}

// roundsOf returns the chain of all requests, that of the requests outside
// any instance's namespace, and each instance's.
func roundsOf(reqs []request) (total, proc int, perInstance map[string]int) {
	byNS := map[string][]request{}
	for _, r := range reqs {
		byNS[r.namespace] = append(byNS[r.namespace], r)
	}
	perInstance = map[string]int{}
	for ns, rs := range byNS {
		if ns == "" {
			proc = chain(rs)
			continue
		}
		perInstance[strings.TrimPrefix(ns, "qxsms-")] = chain(rs)
	}
	return chain(append([]request(nil), reqs...)), proc, perInstance
}
