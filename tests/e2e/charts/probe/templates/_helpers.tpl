{{/* Helpers: defined here, never rendered as a document. */}}
{{- define "probe.ns" -}}
{{ .Release.Namespace }}
{{- end -}}
{{- define "probe.labels" -}}
app: {{ .Chart.Name }}
chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
kind: ConfigMap
