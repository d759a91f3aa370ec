# Runs CRI log lines through the expressions of a generated fluent.conf (source: containers), in Ruby.
#
# No Fluentd is installable here, so each step applies the plugin's documented behaviour to the values the
# config holds, and every regular expression and embedded Ruby expression of the config is evaluated by Ruby
# itself: in_tail's tag expansion and path_key, parser_regexp (expression, time_format %iso8601), filter_grep
# (<regexp>), fluent-plugin-concat in partial_cri mode (flush_buffer: the first part's record with the joined
# text, merged into the F part's record), filter_parser with parser_json (reserve_data, remove_key_name_field),
# kubernetes_metadata (namespace, pod and container from the tag by its default tag_to_kubernetes_name_regexp)
# and record_transformer in Ruby mode (auto_typecast: a value that is one ${...} is evaluated as code).
#
# stdin: {"config": {...values of the config...}, "lines": [{"path": ..., "line": ...}], "env": {...}}
# stdout: [{"time": <float seconds>, "record": {...}}] in emission order.
require 'json'
require 'time'

# fluent-plugin-kubernetes_metadata_filter 3.x, REGEX_VAR_LOG_CONTAINERS (the part of its default that applies)
K8S_TAG = /(var\.log\.containers)\.(?<pod_name>[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)_(?<namespace>[^_]+)_(?<container_name>.+)-(?<docker_id>[a-z0-9]{64})\.log$/

def regexp_of(literal)
  raise "not a /regexp/: #{literal}" unless literal.start_with?('/') && literal.end_with?('/')
  Regexp.new(literal[1..-2])
end

def parse_time(value, format, fallbacks = [])
  [format, *fallbacks].each do |f|
    begin
      return value.to_f if f == 'float' && value.is_a?(Numeric)
      return Time.iso8601(value).to_r.to_f if f == '%iso8601' && value.is_a?(String)
    rescue ArgumentError
      next
    end
  end
  raise ArgumentError, "time #{value.inspect} does not match #{format}"
end

def ruby_value(value, record)
  code = if value.scan('${').size == 1 && value.start_with?('${') && value.end_with?('}')
           value[2..-2]
         else
           "%Q[#{value.gsub('${', '#{')}]"
         end
  eval(code, binding)
end

input = JSON.parse(STDIN.read)
conf = input['config']
input['env'].each { |k, v| ENV[k] = v }
cri = regexp_of(conf['expression'])
keep = regexp_of(conf['grep_pattern'])
buffers = Hash.new { |h, k| h[k] = [] }
out = []

ship = lambda do |tag, time, record|
  # filter_parser + parser_json
  text = record[conf['key_name']]
  begin
    parsed = JSON.parse(text)
    raise JSON::ParserError, 'not an object' unless parsed.is_a?(Hash)
    t = parsed.key?(conf['json_time_key']) ? parse_time(parsed.delete(conf['json_time_key']), conf['json_time_format'], ['float']) : time
    record = record.reject { |k, _| k == conf['key_name'] }.merge(parsed)
    time = t
  rescue JSON::ParserError
    # emit_invalid_record_to_error false, reserve_data true: the record goes on as it is
  end
  # kubernetes_metadata
  if (m = K8S_TAG.match(tag))
    record['kubernetes'] = {'namespace_name' => m['namespace'], 'pod_name' => m['pod_name'],
                            'container_name' => m['container_name']}
    record['docker'] = {'container_id' => m['docker_id']}
  end
  # record_transformer (values computed from the record as it came in, then set)
  values = conf['record'].map { |k, v| [k, v['embedded'] ? eval('"' + v['text'].gsub('"', '\"') + '"') : ruby_value(v['text'], record)] }
  values.each { |k, v| record[k] = v }
  conf['remove_keys'].each { |k| record.delete(k) }
  out << {'time' => time, 'record' => record}
end

input['lines'].each do |entry|
  path, line = entry['path'], entry['line']
  tag = conf['tag'].sub('*', path.tr('/', '.').gsub(/\.+/, '.').sub(/\A\./, ''))
  m = cri.match(line)
  if m.nil?
    record = {'unmatched_line' => line}
    time = Time.now.to_f
  else
    record = m.named_captures.reject { |k, _| k == conf['time_key'] }
    time = parse_time(m[conf['time_key']], conf['time_format'])
  end
  record[conf['path_key']] = path
  # filter_grep <regexp>
  next unless keep.match?(record[conf['grep_key']].to_s)
  # concat, partial_cri
  key = conf['concat_key']
  next ship.call(tag, time, record) unless record.key?(key)
  identity = "#{tag}:#{record[conf['stream_identity_key']]}"
  buffers[identity] << [time, record]
  next unless record[conf['logtag_key']].split(':')[0] == 'F'
  first = buffers[identity].first[1]
  joined = first.merge(key => buffers[identity].map { |_, r| r[key] }.join(conf['separator']))
  buffers[identity] = []
  merged = record.merge(joined)
  merged.delete(conf['logtag_key'])
  merged.delete(conf['cri_stream_key'])
  ship.call(tag, time, merged)
end

puts JSON.dump(out)
